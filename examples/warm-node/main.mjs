const runtimes = process.env.AGNI_RUNTIMES ?? '/agni/runtimes';
const { serve } = await import(`${runtimes}/node/agni-warm.mjs`);

const started = Date.now(); // paid once per worker
let calls = 0;

serve(async (payload) => {
  calls += 1;
  console.error(`call ${calls} for ${process.env.AGNI_INVOCATION_ID}`);
  return `hello ${payload.toString() || 'world'} #${calls} pid=${process.pid} started=${started}\n`;
});

/**
 * A hostile function on the `host` runtime tries every route to a new namespace (where it would hold
 * every capability) and io_uring, through the real server, runc and seccomp filter. Each must fail,
 * while threads and fork (which libc now makes with clone, after clone3's ENOSYS) keep working.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;

// Each probe prints `name result errno`; a child that got made exits at once.
const PROBE = `
import ctypes, errno, os, struct, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(name, *args):
    r = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    e = ctypes.get_errno()
    if r == 0 and name.startswith("clone"):
        os._exit(0)
    if r > 0 and name.startswith("clone"):
        os.waitpid(r, 0)
    print(name, "ok" if r >= 0 else "fail", errno.errorcode.get(e, e) if r < 0 else "-")
NEWUSER, NEWNET, SIGCHLD = 0x10000000, 0x40000000, 17
for name, flags in (("clone3_newuser", NEWUSER), ("clone3_newnet", NEWNET), ("clone3_plain", 0)):
    args = ctypes.create_string_buffer(struct.pack("<8Q", flags, 0, 0, 0, SIGCHLD, 0, 0, 0), 64)
    call(name, 435, args, 64)
call("clone_newuser", 56, NEWUSER | SIGCHLD, 0, 0, 0, 0)
call("clone_newnet", 56, NEWNET | SIGCHLD, 0, 0, 0, 0)
call("unshare_newuser", 272, NEWUSER)
call("io_uring_setup", 425, 8, ctypes.create_string_buffer(120))
call("personality_no_aslr", 135, 0x0040000)
call("personality_query", 135, 0xFFFFFFFF)
t = threading.Thread(target=lambda: print("thread ok"))
t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.WEXITSTATUS(os.waitpid(pid, 0)[1]))
`;

const SHELL =
  'unshare -U true; echo "unshare -U $?"; unshare -n true; echo "unshare -n $?"; unshare -r true; echo "unshare -r $?"';

async function invoke(name: string): Promise<string> {
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body: '' });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return text;
}

describe('seccomp: no new namespaces, no io_uring', () => {
  before(async () => {
    s = await startTestServer();
    await deployFiles(s.url, {
      'agni.yaml': 'name: probe\nruntime: host\ncommand: ["/usr/bin/python3", "/fn/probe.py"]\n',
      'probe.py': PROBE,
    });
    await deployFiles(s.url, {
      'agni.yaml': `name: unsharer\nruntime: host\ncommand: ${JSON.stringify(SHELL)}\n`,
    });
  });
  after(async () => {
    await s?.close();
  });

  test('clone3 answers ENOSYS, clone with a namespace flag and io_uring answer EPERM', async () => {
    const lines = new Map(
      (await invoke('probe'))
        .trim()
        .split('\n')
        .map((l) => [l.split(' ')[0]!, l.split(' ').slice(1).join(' ')]),
    );
    for (const name of ['clone3_newuser', 'clone3_newnet', 'clone3_plain'])
      assert.equal(lines.get(name), 'fail ENOSYS', name);
    for (const name of ['clone_newuser', 'clone_newnet', 'unshare_newuser', 'io_uring_setup'])
      assert.equal(lines.get(name), 'fail EPERM', name);
    assert.equal(lines.get('personality_no_aslr'), 'fail EPERM');
    assert.equal(lines.get('personality_query'), 'ok -');
    // what a runtime needs still works: libc falls back from clone3 to clone
    assert.equal(lines.get('thread'), 'ok');
    assert.equal(lines.get('fork'), '7');
  });

  test('unshare(1) cannot make a user or network namespace', async () => {
    const out = await invoke('unsharer');
    assert.match(out, /^unshare -U [1-9]/m);
    assert.match(out, /^unshare -n [1-9]/m);
    assert.match(out, /^unshare -r [1-9]/m);
  });
});

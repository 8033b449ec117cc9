/** The modes and baselines `agni bench sweep` runs; apart from sweep.ts so the CLI lists them without loading a server. */
export type SweepMode = 'process' | 'runc' | 'prewarmed' | 'warm';
export const SWEEP_MODES: SweepMode[] = ['process', 'runc', 'prewarmed', 'warm'];
export type SweepBaseline = 'host' | 'docker';
export const SWEEP_BASELINES: SweepBaseline[] = ['host', 'docker'];

/**
 * The modes and baselines `agni bench cold` compares; apart from cold.ts and baselines.ts so the CLI
 * lists them without loading a server or the sandbox code.
 */
export type ColdMode = 'process' | 'runc' | 'prewarmed' | 'warm' | 'lambda';
export const COLD_MODES: ColdMode[] = ['process', 'runc', 'prewarmed', 'warm', 'lambda'];
export type BaselineName = 'fork' | 'unshare' | 'runc' | 'docker';
export const BASELINES: BaselineName[] = ['fork', 'unshare', 'runc', 'docker'];

/** The modes `agni bench cold` compares; apart from cold.ts so the CLI lists them without loading a server. */
export type ColdMode = 'process' | 'runc' | 'prewarmed' | 'warm' | 'lambda';
export const COLD_MODES: ColdMode[] = ['process', 'runc', 'prewarmed', 'warm', 'lambda'];

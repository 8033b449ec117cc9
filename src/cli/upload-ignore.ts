/**
 * What a function directory's upload leaves out by default, and the file that says more; apart from
 * dir-upload.ts so `agni deploy --help` can say it without loading tar.
 */
export const IGNORE_FILE = '.agniignore';

/**
 * Left out unless `.agniignore` takes them back (`!.git/`): what a function never needs to run.
 * node_modules, venvs and the like stay: a Node or Python function runs on them.
 */
export const DEFAULT_IGNORE = ['.git/', '__pycache__/', '*.pyc'];

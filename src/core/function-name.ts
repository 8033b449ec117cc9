/**
 * What a function's name may be. Its own module, without the manifest's parser (zod, yaml): the
 * CLI's listings and the name@qualifier parsing need the rule, not the parser's 140 ms of loading.
 */
export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

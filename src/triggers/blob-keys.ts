/** Where async invocations and jobs keep their bytes in the BlobStore (the layout of $AGNI_HOME). */
export const asyncPayloadKey = (id: string): string => `async/payloads/${id}`;
export const asyncOutputKey = (id: string): string => `async/results/${id}.out`;
/** everything a job stored; `inputFile` is the job-relative name kept in its items' rows */
export const jobPrefix = (jobId: string): string => `jobs/${jobId}`;
export const jobBlobKey = (jobId: string, inputFile: string): string => `${jobPrefix(jobId)}/${inputFile}`;

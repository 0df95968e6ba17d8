/**
 * Failure converter of the worker (workflow sandbox and activities) and the client: failure
 * messages and stack traces go into an encoded payload, so the payload codec encrypts them like
 * any other data (an error text may quote patient data). Loaded by path
 * (`failureConverterPath`), hence its own module exporting `failureConverter`.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });

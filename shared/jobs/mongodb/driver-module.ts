import type * as MongoDriver from 'mongodb';

let loaded: typeof MongoDriver | undefined;

/**
 * The MongoDB driver, loaded on first use: loading it costs about a second of CPU, which a
 * platform start or a job with no MongoDB in it should not pay.
 */
export const mongoDriver = async (): Promise<typeof MongoDriver> => {
  loaded ??= await import('mongodb');
  return loaded;
};

/** The driver if something loaded it already: an error can be one of its errors only then. */
export const loadedMongoDriver = (): typeof MongoDriver | undefined => loaded;

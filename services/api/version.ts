import packageJson from '../../package.json' with { type: 'json' };

/** The tandem release this API belongs to, as declared in package.json (one source of truth). */
export const tandemVersion: string = packageJson.version;

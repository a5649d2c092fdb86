/** The one version string (hello frames, /healthz, `ctibridge --version`, webhooks' User-Agent). */
export const VERSION = "0.1.0";

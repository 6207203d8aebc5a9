/** The system's Chromium binary: $VITM_CHROMIUM, or the distribution's; undefined if none is installed. */
export function findChromium(): string | undefined;

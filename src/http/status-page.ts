// The status page: one self-contained HTML file (its style and script
// inline, nothing fetched from elsewhere, so it works with no internet),
// read once when the server starts.
import { readFileSync } from 'node:fs';

export const STATUS_PAGE = readFileSync(new URL('./status-page.html', import.meta.url), 'utf8');

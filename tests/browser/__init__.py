"""End-to-end browser tests: Playwright (sync API) driving Debian's Chromium."""

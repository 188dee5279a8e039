/**
 * Loads the modules that add their rows to `system df` (`registerUsage`): containers, volumes and
 * the build cache. The CLI and the API call this before `diskUsage`, so both show every row.
 */
export async function loadUsageProviders(): Promise<void> {
  await Promise.all([import('../container/usage.js'), import('../volume/usage.js'), import('../build/cache-mounts.js')]);
}

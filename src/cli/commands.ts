/**
 * The command table: names, aliases, flags and usage are data here (cheap to load); each handler
 * module is imported only when its command runs.
 */
import type { FlagSpec, ParsedArgs } from './args.js';
import type { CliContext } from './context.js';

export type Handler = (ctx: CliContext, p: ParsedArgs) => Promise<number | undefined>;

export interface CommandDef {
  path: string[];
  aliases?: string[][];
  usage: string;
  summary: string;
  flags: FlagSpec[];
  args?: { min?: number; max?: number };
  /** Stop flag parsing at the first positional argument (run IMAGE CMD --flags-of-cmd). */
  interspersed?: boolean;
  /** Engine failures exit 125 (run, create) instead of 1. */
  runFamily?: boolean;
  handler?: () => Promise<Handler>;
  /** Run by Berth's own processes (the monitor's exit command, helpers): left out of the help lists. */
  internal?: boolean;
}

const h =
  <M extends Record<string, unknown>>(load: () => Promise<M>, name: keyof M & string) =>
  async (): Promise<Handler> =>
    (await load())[name] as unknown as Handler;

const images = () => import('./commands/images.js');
const containers = () => import('./commands/containers.js');
const system = () => import('./commands/system.js');
const networks = () => import('./commands/networks.js');
const volumes = () => import('./commands/volumes.js');
const buildCmd = () => import('./commands/build.js');
const registry = () => import('./commands/registry.js');

const FORMAT: FlagSpec = { name: 'format', type: 'string', description: "Format output: 'table', 'json', 'table TEMPLATE' or a Go template", value: 'string' };
const QUIET_IDS: FlagSpec = { name: 'quiet', short: 'q', type: 'bool', description: 'Only display IDs' };
const NO_TRUNC: FlagSpec = { name: 'no-trunc', type: 'bool', description: "Don't truncate output" };
/** --format with docker's -f, for the commands whose -f is the format (inspect, version, info). */
const FORMAT_F: FlagSpec = { ...FORMAT, short: 'f' };
const FILTER: FlagSpec = { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided', value: 'filter' };
const FORCE = (d: string): FlagSpec => ({ name: 'force', short: 'f', type: 'bool', description: d });

const RUN_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', description: 'Run container in background and print container ID' },
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'rm', type: 'bool', description: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { name: 'name', type: 'string', description: 'Assign a name to the container' },
  { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
  { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'group-add', type: 'list', description: 'Add additional groups to join' },
  { name: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { name: 'domainname', type: 'string', description: 'Container NIS domain name' },
  { name: 'read-only', type: 'bool', description: "Mount the container's root filesystem as read only" },
  { name: 'init', type: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'label', short: 'l', type: 'list', description: 'Set meta data on a container' },
  { name: 'label-file', type: 'list', description: 'Read in a line delimited file of labels' },
  { name: 'stop-signal', type: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'int', description: 'Timeout (in seconds) to stop a container' },
  { name: 'restart', type: 'string', description: 'Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)', default: 'no' },
  { name: 'health-cmd', type: 'string', description: 'Command to run to check health' },
  { name: 'health-interval', type: 'string', description: 'Time between running the check (ms|s|m|h)' },
  { name: 'health-timeout', type: 'string', description: 'Maximum time to allow one check to run (ms|s|m|h)' },
  { name: 'health-retries', type: 'int', description: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-period', type: 'string', description: 'Start period for the container to initialize before starting health-retries countdown' },
  { name: 'health-start-interval', type: 'string', description: 'Time between running the check during the start period' },
  { name: 'no-healthcheck', type: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
  { name: 'log-opt', type: 'list', description: 'Log driver options (max-size, max-file)' },
  { name: 'log-driver', type: 'string', description: 'Logging driver for the container (k8s-file)' },
  { name: 'runtime', type: 'string', description: 'Runtime to use for this container (runc, crun or a path)' },
  { name: 'memory', short: 'm', type: 'string', description: 'Memory limit' },
  { name: 'memory-swap', type: 'string', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'memory-reservation', type: 'string', description: 'Memory soft limit' },
  { name: 'cpus', type: 'string', description: 'Number of CPUs' },
  { name: 'cpu-shares', short: 'c', type: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpu-quota', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-period', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', type: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'pids-limit', type: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'ulimit', type: 'list', description: 'Ulimit options' },
  { name: 'shm-size', type: 'string', description: 'Size of /dev/shm' },
  { name: 'cap-add', type: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', description: 'Drop Linux capabilities' },
  { name: 'privileged', type: 'bool', description: 'Give extended privileges to this container' },
  { name: 'security-opt', type: 'list', description: 'Security Options' },
  { name: 'sysctl', type: 'list', description: 'Sysctl options' },
  { name: 'device', type: 'list', description: 'Add a host device to the container (HOST[:CONTAINER][:rwm])' },
  { name: 'device-cgroup-rule', type: 'list', description: 'Add a rule to the cgroup allowed devices list' },
  { name: 'pid', type: 'string', description: 'PID namespace to use (host or container:NAME)' },
  { name: 'ipc', type: 'string', description: 'IPC mode to use (private, shareable or host)' },
  { name: 'uts', type: 'string', description: 'UTS namespace to use (host)' },
  { name: 'oom-score-adj', type: 'int', description: "Tune host's OOM preferences (-1000 to 1000)" },
  { name: 'cidfile', type: 'string', description: 'Write the container ID to the file' },
  { name: 'network', type: 'string', description: 'Connect a container to a network' },
  { name: 'net', type: 'string', description: 'Connect a container to a network', hidden: true },
  { name: 'network-alias', type: 'list', description: 'Add network-scoped alias for the container' },
  { name: 'ip', type: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'ip6', type: 'string', description: 'IPv6 address (e.g., 2001:db8::33)' },
  { name: 'dns', type: 'list', description: 'Set custom DNS servers' },
  { name: 'dns-search', type: 'list', description: 'Set custom DNS search domains' },
  { name: 'dns-option', type: 'list', description: 'Set DNS options' },
  { name: 'add-host', type: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'link', type: 'list', description: 'Add link to another container (NAME[:ALIAS]): its address in /etc/hosts' },
  { name: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', description: 'Publish all exposed ports to random ports' },
  { name: 'expose', type: 'list', description: 'Expose a port or a range of ports' },
  { name: 'volume', short: 'v', type: 'list', description: 'Bind mount a volume' },
  { name: 'mount', type: 'list', description: 'Attach a filesystem mount to the container' },
  { name: 'tmpfs', type: 'list', description: 'Mount a tmpfs directory' },
  { name: 'volumes-from', type: 'list', description: 'Mount volumes from the specified container(s)' },
  { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
  { name: 'sig-proxy', type: 'bool', default: true, description: 'Proxy received signals to the process' },
  { name: 'pull', type: 'string', description: 'Pull image before running ("always", "missing", "never")', default: 'missing' },
  { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the pull output' },
];

export const COMMANDS: CommandDef[] = [
  // ---- images
  {
    path: ['image', 'ls'],
    aliases: [['images'], ['image', 'list']],
    usage: 'berth images [OPTIONS] [REPOSITORY[:TAG]]',
    summary: 'List images',
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Show all images (default hides intermediate images)' },
      { name: 'digests', type: 'bool', description: 'Show digests' },
      FILTER,
      FORMAT,
      NO_TRUNC,
      QUIET_IDS,
    ],
    args: { max: 1 },
    handler: h(images, 'listImages'),
  },
  {
    path: ['image', 'inspect'],
    usage: 'berth image inspect [OPTIONS] IMAGE [IMAGE...]',
    summary: 'Display detailed information on one or more images',
    flags: [FORMAT_F],
    args: { min: 1 },
    handler: h(images, 'inspectImages'),
  },
  {
    path: ['image', 'tag'],
    aliases: [['tag']],
    usage: 'berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
    summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
    flags: [],
    args: { min: 2, max: 2 },
    handler: h(images, 'tagImage'),
  },
  {
    path: ['image', 'rm'],
    aliases: [['rmi'], ['image', 'remove']],
    usage: 'berth rmi [OPTIONS] IMAGE [IMAGE...]',
    summary: 'Remove one or more images',
    flags: [FORCE('Force removal of the image'), { name: 'no-prune', type: 'bool', description: 'Do not delete untagged parents' }],
    args: { min: 1 },
    handler: h(images, 'removeImages'),
  },
  {
    path: ['image', 'history'],
    aliases: [['history']],
    usage: 'berth history [OPTIONS] IMAGE',
    summary: 'Show the history of an image',
    flags: [{ name: 'human', short: 'H', type: 'bool', default: true, description: 'Print sizes and dates in human readable format' }, FORMAT, NO_TRUNC, QUIET_IDS],
    args: { min: 1, max: 1 },
    handler: h(images, 'imageHistory'),
  },
  {
    path: ['image', 'build'],
    aliases: [['build'], ['builder', 'build']],
    usage: 'berth build [OPTIONS] PATH | URL | -',
    summary: 'Build an image from a Dockerfile',
    flags: [
      { name: 'tag', short: 't', type: 'list', description: 'Name and optionally a tag (format: "name:tag")', value: 'list' },
      { name: 'file', short: 'f', type: 'string', description: 'Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from stdin)', value: 'string' },
      { name: 'build-arg', type: 'list', description: 'Set build-time variables', value: 'list' },
      { name: 'label', type: 'list', description: 'Set metadata for an image', value: 'list' },
      { name: 'target', type: 'string', description: 'Set the target build stage to build', value: 'string' },
      { name: 'no-cache', type: 'bool', description: 'Do not use cache when building the image' },
      { name: 'pull', type: 'bool', description: 'Always attempt to pull all referenced images' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the build output and print image ID on success' },
      { name: 'iidfile', type: 'string', description: 'Write the image ID to a file', value: 'string' },
      { name: 'progress', type: 'string', description: 'Set type of progress output (auto, plain, tty, quiet)', value: 'string', default: 'auto' },
      { name: 'secret', type: 'list', description: 'Secret to expose to the build (format: "id=mysecret,src=/local/secret")', value: 'stringArray' },
      { name: 'ssh', type: 'list', description: 'SSH agent socket to expose to the build (format: "default|<id>[=<socket>]")', value: 'stringArray' },
      { name: 'network', type: 'string', description: 'Networking mode for the RUN instructions (default, none or host)', value: 'string' },
      { name: 'build-context', type: 'list', description: 'Additional build contexts (NAME=DIR or NAME=docker-image://REF)', value: 'stringArray' },
      { name: 'output', short: 'o', type: 'string', description: 'Also write the result\'s files: a directory (PATH or type=local,dest=DIR) or a tar (- or type=tar,dest=FILE)', value: 'string' },
      { name: 'platform', type: 'string', description: 'Set target platform for build (only the host platform)', value: 'string' },
      { name: 'check', type: 'bool', description: 'Lint the Dockerfile and exit (no build)' },
    ],
    args: { min: 1, max: 1 },
    handler: h(buildCmd, 'build'),
  },
  {
    path: ['image', 'import'],
    aliases: [['import']],
    usage: 'berth import [OPTIONS] file|-  [REPOSITORY[:TAG]]',
    summary: 'Import the contents from a tarball to create a filesystem image',
    flags: [
      { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image', value: 'list' },
      { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image', value: 'string' },
      { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable', value: 'string' },
    ],
    args: { min: 1, max: 2 },
    handler: h(images, 'importImage'),
  },
  {
    path: ['image', 'save'],
    aliases: [['save']],
    usage: 'berth save [OPTIONS] IMAGE [IMAGE...]',
    summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
    flags: [
      { name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT', value: 'string' },
      { name: 'format', type: 'string', description: "Archive format: docker-archive (default), oci-archive, oci-dir", value: 'string' },
    ],
    args: { min: 1 },
    handler: h(images, 'saveImages'),
  },
  {
    path: ['image', 'load'],
    aliases: [['load']],
    usage: 'berth load [OPTIONS]',
    summary: 'Load an image from a tar archive or STDIN (docker-archive, oci-archive or an OCI layout directory)',
    flags: [
      { name: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN', value: 'string' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
    ],
    args: { max: 0 },
    handler: h(images, 'loadImages'),
  },
  {
    path: ['image', 'prune'],
    usage: 'berth image prune [OPTIONS]',
    summary: 'Remove unused images',
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
      { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")', value: 'filter' },
      FORCE('Do not prompt for confirmation'),
    ],
    args: { max: 0 },
    handler: h(images, 'pruneImages'),
  },
  {
    path: ['builder', 'prune'],
    usage: 'berth builder prune [OPTIONS]',
    summary: 'Remove build cache (step results and RUN --mount=type=cache directories)',
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused build cache (the same as without: Berth keeps no cache a finished build holds)' },
      { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=24h")', value: 'filter' },
      FORCE('Do not prompt for confirmation'),
    ],
    args: { max: 0 },
    handler: h(system, 'pruneBuilder'),
  },
  // ---- system
  {
    path: ['system', 'service'],
    usage: 'berth system service [OPTIONS] [unix:///PATH]',
    summary: 'Serve the Docker Engine API on a unix socket',
    flags: [
      { name: 'socket', type: 'string', description: 'Socket to listen on (default unix:///run/berth/berth.sock)', value: 'unix:///path' },
      { name: 'log-requests', type: 'string', description: 'Append one JSON line per API request to this file (env BERTH_API_LOG)', value: 'file' },
    ],
    args: { max: 1 },
    handler: async () => (await import('./commands/service.js')).systemService,
  },
  {
    path: ['system', 'df'],
    usage: 'berth system df [OPTIONS]',
    summary: 'Show disk usage',
    flags: [{ name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' }, FORMAT],
    args: { max: 0 },
    handler: h(system, 'diskUsage'),
  },
  {
    path: ['system', 'prune'],
    usage: 'berth system prune [OPTIONS]',
    summary: 'Remove unused data',
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
      { name: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
      { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<key>=<value>", "until=24h")', value: 'filter' },
      { name: 'dry-run', type: 'bool', description: 'Show what would be removed and the space it frees, without removing anything' },
      FORCE('Do not prompt for confirmation'),
    ],
    args: { max: 0 },
    handler: h(system, 'prune'),
  },
  {
    path: ['system', 'check'],
    usage: 'berth system check [OPTIONS]',
    summary: 'Verify the store and repair what can be repaired',
    flags: [{ name: 'repair', type: 'bool', description: 'Repair what can be repaired' }, { name: 'quick', type: 'bool', description: 'Skip rehashing blobs' }],
    args: { max: 0 },
    handler: h(system, 'checkStore'),
  },
  {
    path: ['version'],
    usage: 'berth version',
    summary: 'Show the Berth version information',
    flags: [FORMAT_F],
    args: { max: 0 },
    handler: h(system, 'version'),
  },
  {
    path: ['system', 'events'],
    aliases: [['events']],
    usage: 'berth events [OPTIONS]',
    summary: 'Get real time events from the engine',
    flags: [
      FILTER,
      FORMAT,
      { name: 'since', type: 'string', description: 'Show all events created since timestamp', value: 'string' },
      { name: 'until', type: 'string', description: 'Stream events until this timestamp', value: 'string' },
    ],
    args: { max: 0 },
    handler: h(() => import('./commands/events.js'), 'events'),
  },
  {
    path: ['system', 'info'],
    aliases: [['info']],
    usage: 'berth info',
    summary: 'Display system-wide information',
    flags: [FORMAT_F],
    args: { max: 0 },
    handler: h(system, 'info'),
  },
  // ---- registries
  {
    path: ['image', 'pull'],
    aliases: [['pull']],
    usage: 'berth pull [OPTIONS] NAME[:TAG|@DIGEST]',
    summary: 'Download an image from a registry',
    flags: [
      { name: 'all-tags', short: 'a', type: 'bool', description: 'Download all tagged images in the repository' },
      { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable (os/arch[/variant])', value: 'string' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
    ],
    args: { min: 1, max: 1 },
    handler: h(registry, 'pull'),
  },
  {
    path: ['image', 'push'],
    aliases: [['push']],
    usage: 'berth push [OPTIONS] NAME[:TAG]',
    summary: 'Upload an image to a registry',
    flags: [
      { name: 'all-tags', short: 'a', type: 'bool', description: 'Push all tags of an image to the repository' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
    ],
    args: { min: 1, max: 1 },
    handler: h(registry, 'push'),
  },
  {
    path: ['login'],
    usage: 'berth login [OPTIONS] [SERVER]',
    summary: 'Log in to a registry (Docker Hub when no server is given)',
    flags: [
      { name: 'username', short: 'u', type: 'string', description: 'Username', value: 'string' },
      { name: 'password', short: 'p', type: 'string', description: 'Password', value: 'string' },
      { name: 'password-stdin', type: 'bool', description: 'Take the password from stdin' },
    ],
    args: { max: 1 },
    handler: h(registry, 'login'),
  },
  {
    path: ['logout'],
    usage: 'berth logout [SERVER]',
    summary: 'Log out from a registry (Docker Hub when no server is given)',
    flags: [],
    args: { max: 1 },
    handler: h(registry, 'logout'),
  },
  {
    path: ['registry', 'serve'],
    usage: 'berth registry serve [OPTIONS]',
    summary: 'Serve an OCI registry in the foreground (SIGTERM stops it)',
    flags: [
      { name: 'addr', type: 'string', description: 'Address to listen on (host:port)', default: '127.0.0.1:5000', value: 'string' },
      { name: 'root', type: 'string', description: "Directory holding the registry's content", value: 'dir' },
      { name: 'htpasswd', type: 'string', description: 'htpasswd file of bcrypt entries: require Basic auth', value: 'file' },
      { name: 'tls-cert', type: 'string', description: 'Serve https with this PEM certificate', value: 'file' },
      { name: 'tls-key', type: 'string', description: 'PEM key of --tls-cert', value: 'file' },
    ],
    args: { max: 0 },
    handler: h(registry, 'registryServe'),
  },
  ...containerCommands(),
  // ---- networks
  { path: ['network', 'create'], usage: 'berth network create [OPTIONS] NETWORK', summary: 'Create a network', flags: [{ name: 'driver', short: 'd', type: 'string', description: 'Driver to manage the Network (bridge)' }, { name: 'subnet', type: 'list', description: 'Subnet in CIDR format that represents a network segment' }, { name: 'gateway', type: 'list', description: 'IPv4 or IPv6 Gateway for the master subnet' }, { name: 'ip-range', type: 'string', description: 'Allocate container IPv4 addresses from a sub-range (CIDR inside --subnet)' }, { name: 'internal', type: 'bool', description: 'Restrict external access to the network' }, { name: 'ipv6', type: 'bool', description: 'Enable or disable IPv6 networking' }, { name: 'label', type: 'list', description: 'Set metadata on a network' }, { name: 'opt', short: 'o', type: 'list', description: 'Set driver specific options' }], args: { min: 1, max: 1 }, handler: h(networks, 'createNetwork') },
  { path: ['network', 'ls'], aliases: [['network', 'list']], usage: 'berth network ls [OPTIONS]', summary: 'List networks', flags: [FILTER, FORMAT, NO_TRUNC, { name: 'quiet', short: 'q', type: 'bool', description: 'Only display network IDs' }], args: { max: 0 }, handler: h(networks, 'listNetworks') },
  { path: ['network', 'inspect'], usage: 'berth network inspect [OPTIONS] NETWORK [NETWORK...]', summary: 'Display detailed information on one or more networks', flags: [FORMAT_F, { name: 'verbose', short: 'v', type: 'bool', description: 'Verbose output for diagnostics' }], args: { min: 1 }, handler: h(networks, 'inspectNetworks') },
  { path: ['network', 'rm'], aliases: [['network', 'remove']], usage: 'berth network rm NETWORK [NETWORK...]', summary: 'Remove one or more networks', flags: [FORCE('Do not error if the network does not exist')], args: { min: 1 }, handler: h(networks, 'removeNetworks') },
  { path: ['network', 'connect'], usage: 'berth network connect [OPTIONS] NETWORK CONTAINER', summary: 'Connect a container to a network', flags: [{ name: 'alias', type: 'list', description: 'Add network-scoped alias for the container' }, { name: 'ip', type: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' }, { name: 'ip6', type: 'string', description: 'IPv6 address (e.g., 2001:db8::33)' }], args: { min: 2, max: 2 }, handler: h(networks, 'connectNetwork') },
  { path: ['network', 'disconnect'], usage: 'berth network disconnect [OPTIONS] NETWORK CONTAINER', summary: 'Disconnect a container from a network', flags: [FORCE('Force the container to disconnect from a network')], args: { min: 2, max: 2 }, handler: h(networks, 'disconnectNetwork') },
  { path: ['network', 'prune'], usage: 'berth network prune [OPTIONS]', summary: 'Remove all unused networks', flags: [{ name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<key>=<value>")' }, FORCE('Do not prompt for confirmation')], args: { max: 0 }, handler: h(networks, 'pruneNetworks') },
  { path: ['network', 'reset'], usage: 'berth network reset', summary: "Remove this store's bridges, firewall rules and user-defined networks (containers first)", flags: [], args: { max: 0 }, handler: h(networks, 'resetNetworks') },
  // ---- volumes
  { path: ['volume', 'create'], usage: 'berth volume create [OPTIONS] [VOLUME]', summary: 'Create a volume', flags: [{ name: 'driver', short: 'd', type: 'string', description: 'Specify volume driver name (local)' }, { name: 'label', type: 'list', description: 'Set metadata for a volume' }, { name: 'opt', short: 'o', type: 'list', description: 'Set driver specific options' }, { name: 'name', type: 'string', description: 'Specify volume name', hidden: true }], args: { max: 1 }, handler: h(volumes, 'createVolume') },
  { path: ['volume', 'ls'], aliases: [['volume', 'list']], usage: 'berth volume ls [OPTIONS]', summary: 'List volumes', flags: [FILTER, FORMAT, { name: 'quiet', short: 'q', type: 'bool', description: 'Only display volume names' }], args: { max: 0 }, handler: h(volumes, 'listVolumes') },
  { path: ['volume', 'inspect'], usage: 'berth volume inspect [OPTIONS] VOLUME [VOLUME...]', summary: 'Display detailed information on one or more volumes', flags: [FORMAT_F], args: { min: 1 }, handler: h(volumes, 'inspectVolumes') },
  { path: ['volume', 'rm'], aliases: [['volume', 'remove']], usage: 'berth volume rm [OPTIONS] VOLUME [VOLUME...]', summary: 'Remove one or more volumes', flags: [FORCE('Force the removal of one or more volumes')], args: { min: 1 }, handler: h(volumes, 'removeVolumes') },
  { path: ['volume', 'prune'], usage: 'berth volume prune [OPTIONS]', summary: 'Remove unused local volumes (anonymous ones only, unless --all)', flags: [{ name: 'all', short: 'a', type: 'bool', description: 'Remove all unused volumes, not just anonymous ones' }, { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<label>")' }, FORCE('Do not prompt for confirmation')], args: { max: 0 }, handler: h(volumes, 'pruneVolumes') },
];

function containerCommands(): CommandDef[] {
  const c = (name: string, o: Omit<CommandDef, 'path' | 'handler'> & { handler: string; group?: boolean; top?: boolean }): CommandDef => {
    const def: CommandDef = { ...o, path: ['container', name], handler: h(containers, o.handler as never) };
    const aliases = [...(o.aliases ?? [])];
    if (o.top !== false) aliases.unshift([name]);
    def.aliases = aliases;
    return def;
  };
  const TIME: FlagSpec = { name: 'time', short: 't', type: 'int', description: 'Seconds to wait before killing the container', value: 'int' };
  // The limits `update` changes: docker update's flags, less blkio and realtime CPU (Berth sets neither).
  const UPDATE_LIMIT_FLAGS = new Set(['memory', 'memory-swap', 'memory-reservation', 'cpus', 'cpu-shares', 'cpu-quota', 'cpu-period', 'cpuset-cpus', 'cpuset-mems', 'pids-limit']);
  return [
    c('run', { usage: 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]', summary: 'Create and run a new container from an image', flags: RUN_FLAGS, interspersed: false, runFamily: true, args: { min: 1 }, handler: 'run' }),
    c('create', { usage: 'berth create [OPTIONS] IMAGE [COMMAND] [ARG...]', summary: 'Create a new container', flags: RUN_FLAGS.filter((f) => f.name !== 'detach' && f.name !== 'rm' && f.name !== 'detach-keys' && f.name !== 'sig-proxy').concat([{ name: 'rm', type: 'bool', description: 'Automatically remove the container when it exits' }]), interspersed: false, runFamily: true, args: { min: 1 }, handler: 'create' }),
    c('start', { usage: 'berth start [OPTIONS] CONTAINER [CONTAINER...]', summary: 'Start one or more stopped containers', flags: [{ name: 'attach', short: 'a', type: 'bool', description: "Attach STDOUT/STDERR and forward signals" }, { name: 'interactive', short: 'i', type: 'bool', description: "Attach container's STDIN" }, { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' }], args: { min: 1 }, handler: 'start' }),
    c('stop', { usage: 'berth stop [OPTIONS] CONTAINER [CONTAINER...]', summary: 'Stop one or more running containers', flags: [TIME, { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' }], args: { min: 1 }, handler: 'stop' }),
    c('kill', { usage: 'berth kill [OPTIONS] CONTAINER [CONTAINER...]', summary: 'Kill one or more running containers', flags: [{ name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container', default: 'KILL' }], args: { min: 1 }, handler: 'kill' }),
    c('restart', { usage: 'berth restart [OPTIONS] CONTAINER [CONTAINER...]', summary: 'Restart one or more containers', flags: [TIME, { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' }], args: { min: 1 }, handler: 'restart' }),
    c('pause', { usage: 'berth pause CONTAINER [CONTAINER...]', summary: 'Pause all processes within one or more containers', flags: [], args: { min: 1 }, handler: 'pause' }),
    c('unpause', { usage: 'berth unpause CONTAINER [CONTAINER...]', summary: 'Unpause all processes within one or more containers', flags: [], args: { min: 1 }, handler: 'unpause' }),
    c('rm', { aliases: [['container', 'remove']], usage: 'berth rm [OPTIONS] CONTAINER [CONTAINER...]', summary: 'Remove one or more containers', flags: [FORCE('Force the removal of a running container (uses SIGKILL)'), { name: 'volumes', short: 'v', type: 'bool', description: 'Remove anonymous volumes associated with the container' }, { name: 'link', short: 'l', type: 'bool', description: 'Remove the specified link' }], args: { min: 1 }, handler: 'rm' }),
    c('update', {
      usage: 'berth update [OPTIONS] CONTAINER [CONTAINER...]',
      summary: 'Update configuration (resource limits, restart policy) of one or more containers',
      // run's limit flags, and --restart without run's default (unset: unchanged).
      flags: [
        ...RUN_FLAGS.filter((f) => UPDATE_LIMIT_FLAGS.has(f.name)),
        { name: 'restart', type: 'string', description: 'Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)' },
      ],
      args: { min: 1 },
      handler: 'update',
    }),
    c('wait', { usage: 'berth wait CONTAINER [CONTAINER...]', summary: 'Block until one or more containers stop, then print their exit codes', flags: [{ name: 'condition', type: 'string', description: 'not-running (default), next-exit or removed' }], args: { min: 1 }, handler: 'wait' }),
    c('rename', { usage: 'berth rename CONTAINER NEW_NAME', summary: 'Rename a container', flags: [], args: { min: 2, max: 2 }, handler: 'rename' }),
    c('ls', { top: false, aliases: [['ps'], ['container', 'list'], ['container', 'ps']], usage: 'berth ps [OPTIONS]', summary: 'List containers', flags: [{ name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' }, FILTER, FORMAT, { name: 'last', short: 'n', type: 'int', description: 'Show n last created containers (includes all states)', default: -1 }, { name: 'latest', short: 'l', type: 'bool', description: 'Show the latest created container (includes all states)' }, NO_TRUNC, QUIET_IDS, { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' }], args: { max: 0 }, handler: 'ps' }),
    c('inspect', { top: false, usage: 'berth container inspect [OPTIONS] CONTAINER [CONTAINER...]', summary: 'Display detailed information on one or more containers', flags: [FORMAT_F, { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' }], args: { min: 1 }, handler: 'inspect' }),
    c('logs', { usage: 'berth logs [OPTIONS] CONTAINER', summary: 'Fetch the logs of a container', flags: [{ name: 'follow', short: 'f', type: 'bool', description: 'Follow log output' }, { name: 'tail', short: 'n', type: 'string', description: 'Number of lines to show from the end of the logs', default: 'all' }, { name: 'since', type: 'string', description: 'Show logs since timestamp or relative (e.g. 42m)' }, { name: 'until', type: 'string', description: 'Show logs before a timestamp or relative' }, { name: 'timestamps', short: 't', type: 'bool', description: 'Show timestamps' }, { name: 'details', type: 'bool', description: 'Show extra details provided to logs' }], args: { min: 1, max: 1 }, handler: 'logs' }),
    c('exec', { usage: 'berth exec [OPTIONS] CONTAINER COMMAND [ARG...]', summary: 'Execute a command in a running container', flags: [{ name: 'detach', short: 'd', type: 'bool', description: 'Detached mode: run command in the background' }, { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' }, { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' }, { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' }, { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' }, { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' }, { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' }, { name: 'privileged', type: 'bool', description: 'Give extended privileges to the command' }, { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching' }], interspersed: false, runFamily: true, args: { min: 2 }, handler: 'exec' }),
    c('attach', { usage: 'berth attach [OPTIONS] CONTAINER', summary: "Attach local standard input, output, and error streams to a running container", flags: [{ name: 'no-stdin', type: 'bool', description: 'Do not attach STDIN' }, { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' }, { name: 'sig-proxy', type: 'bool', default: true, description: 'Proxy all received signals to the process' }], args: { min: 1, max: 1 }, handler: 'attach' }),
    c('top', { usage: 'berth top CONTAINER [ps OPTIONS]', summary: 'Display the running processes of a container', flags: [], interspersed: false, args: { min: 1 }, handler: 'top' }),
    c('stats', { usage: 'berth stats [OPTIONS] [CONTAINER...]', summary: 'Display a live stream of container(s) resource usage statistics', flags: [{ name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' }, FORMAT, { name: 'no-stream', type: 'bool', description: 'Disable streaming stats and only pull the first result' }, NO_TRUNC], handler: 'stats' }),
    c('port', { usage: 'berth port CONTAINER [PRIVATE_PORT[/PROTO]]', summary: 'List port mappings or a specific mapping for the container', flags: [], args: { min: 1, max: 2 }, handler: 'port' }),
    c('diff', { usage: 'berth diff CONTAINER', summary: "Inspect changes to files or directories on a container's filesystem", flags: [], args: { min: 1, max: 1 }, handler: 'diff' }),
    c('commit', { usage: 'berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]', summary: "Create a new image from a container's changes", flags: [{ name: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' }, { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' }, { name: 'message', short: 'm', type: 'string', description: 'Commit message' }, { name: 'pause', short: 'p', type: 'bool', default: true, description: 'Pause container during commit' }], args: { min: 1, max: 2 }, handler: 'commit' }),
    c('cp', { usage: 'berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH', summary: 'Copy files/folders between a container and the local filesystem', flags: [{ name: 'archive', short: 'a', type: 'bool', description: 'Archive mode (copy all uid/gid information)' }, { name: 'follow-link', short: 'L', type: 'bool', description: 'Always follow symbol link in SRC_PATH' }, { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress progress output' }], args: { min: 2, max: 2 }, handler: 'cp' }),
    c('export', { usage: 'berth export [OPTIONS] CONTAINER', summary: "Export a container's filesystem as a tar archive", flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }], args: { min: 1, max: 1 }, handler: 'exportContainer' }),
    c('prune', { top: false, usage: 'berth container prune [OPTIONS]', summary: 'Remove all stopped containers', flags: [{ name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' }, FORCE('Do not prompt for confirmation')], args: { max: 0 }, handler: 'prune' }),
    c('cleanup', { top: false, internal: true, usage: 'berth container cleanup CONTAINER', summary: 'Record the exit of a container (run by its monitor)', flags: [], args: { min: 1, max: 1 }, handler: 'cleanup' }),
    c('port-proxy', { top: false, internal: true, usage: 'berth container port-proxy CONTAINER NETNS SPEC...', summary: "Relay a container's published ports that netfilter cannot carry (IPv6 loopback)", flags: [], args: { min: 3 }, handler: 'portProxy' }),
    c('healthcheck-monitor', { top: false, internal: true, usage: 'berth container healthcheck-monitor CONTAINER', summary: "Run a container's health checks until it stops", flags: [], args: { min: 1, max: 1 }, handler: 'healthMonitor' }),
    { path: ['inspect'], usage: 'berth inspect [OPTIONS] NAME|ID [NAME|ID...]', summary: 'Return low-level information on Berth objects', flags: [FORMAT_F, { name: 'type', type: 'string', description: 'Return JSON for specified type' }, { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes if the type is container' }], args: { min: 1 }, handler: h(containers, 'inspectAny') },
  ];
}


export function findCommand(argv: string[]): { def: CommandDef; consumed: number } | undefined {
  let best: { def: CommandDef; consumed: number } | undefined;
  for (const def of COMMANDS) {
    for (const p of [def.path, ...(def.aliases ?? [])]) {
      if (p.length <= argv.length && p.every((w, i) => argv[i] === w) && (!best || p.length > best.consumed)) {
        best = { def, consumed: p.length };
      }
    }
  }
  if (best) return best;
  // A group alone (`berth image`) or a group with an unknown verb.
  const group = GROUPS.find((g) => g.name === argv[0]);
  if (group && (argv.length === 1 || (argv[1] as string).startsWith('-'))) {
    return { def: { path: [group.name], usage: `berth ${group.name} COMMAND`, summary: group.summary, flags: [] }, consumed: 1 };
  }
  return undefined;
}

/** Whether `name` is a command group (image, container, system, ...). */
export function isGroup(name: string | undefined): boolean {
  return GROUPS.some((g) => g.name === name);
}

const GROUPS = [
  { name: 'image', summary: 'Manage images' },
  { name: 'container', summary: 'Manage containers' },
  { name: 'system', summary: 'Manage Berth' },
  { name: 'volume', summary: 'Manage volumes' },
  { name: 'network', summary: 'Manage networks' },
  { name: 'registry', summary: 'Serve an OCI registry' },
  { name: 'builder', summary: 'Manage builds' },
];

export function helpText(def: CommandDef): string {
  if (!def.handler) {
    const subs = COMMANDS.filter((c) => c.path[0] === def.path[0] && c.path.length === 2 && !c.internal);
    return [`Usage:  ${def.usage}`, '', def.summary, '', 'Commands:', ...subs.map((c) => `  ${`${c.path[1] as string} `.padEnd(12)}${c.summary}`), '', `Run 'berth ${def.path[0]} COMMAND --help' for more information on a command.`].join('\n');
  }
  const lines = [`Usage:  ${def.usage}`, '', def.summary];
  if (def.aliases?.length) lines.push('', 'Aliases:', `  ${[def.path, ...def.aliases].map((p) => `berth ${p.join(' ')}`).join(', ')}`);
  const flags = def.flags.filter((f) => !f.hidden);
  if (flags.length) {
    lines.push('', 'Options:');
    for (const f of flags) {
      const left = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'bool' ? '' : ` ${f.value ?? (f.type === 'int' ? 'int' : 'string')}`}`;
      lines.push(`  ${left.padEnd(28)}${f.description}`);
    }
  }
  return lines.join('\n');
}

export function topLevelHelp(): string {
  const top = COMMANDS.flatMap((c) => [c.path, ...(c.aliases ?? [])].filter((p) => p.length === 1).map((p) => [p[0] as string, c.summary] as const));
  top.sort((a, b) => a[0].localeCompare(b[0]));
  return [
    'Usage:  berth [OPTIONS] COMMAND',
    '',
    'A daemonless, Docker-compatible container engine',
    '',
    'Management Commands:',
    ...GROUPS.map((g) => `  ${g.name.padEnd(12)}${g.summary}`),
    '',
    'Commands:',
    ...top.map(([n, s]) => `  ${`${n} `.padEnd(12)}${s}`),
    '',
    'Global Options:',
    '  --root string       Root of persistent storage (default /var/lib/berth, env BERTH_ROOT)',
    '  --runroot string    Root of per-boot state (default /run/berth, env BERTH_RUNROOT)',
    '  --runtime string    OCI runtime (default runc)',
    '  -H, --host string   Engine API socket to run commands through instead of the local store',
    '                      (unix:///run/berth/berth.sock; env BERTH_HOST; see berth system service)',
    '  -D, --debug         Print error causes',
    '  -v, --version       Print version information and quit',
    '',
    "Run 'berth COMMAND --help' for more information on a command.",
  ].join('\n');
}

import { commands } from './commands/index.js';
import { UsageError } from './command.js';
import { describeWriteError } from '../util/atomic-write.js';

/** A reader that stopped early (`| head`, EPIPE) ends the command quietly; other stdout errors are named. */
function guardStdout(name: string): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`d2po ${name}: cannot write stdout: ${describeWriteError(err)}\n`);
    process.exit(1);
  });
}

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: d2po <command> [options]',
    '',
    'Online preference optimisation of language models (D2PO and baselines).',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `d2po <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(overview());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`d2po: unknown command '${name}'\n\n${overview()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  guardStdout(name);
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`d2po ${name}: ${err.message}`);
      return 2;
    }
    const e = err as Error;
    console.error(`d2po ${name}: ${e.message ?? String(err)}`);
    if (process.env.D2PO_DEBUG) console.error(e.stack);
    return 1;
  }
}

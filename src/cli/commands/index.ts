import type { Command } from '../command.js';
import { tasksCommand } from './tasks.js';
import { rewardCommand } from './reward.js';

// One line per subcommand; each lives in its own file beside this one.
export const commands: Command[] = [
  tasksCommand,
  rewardCommand,
];

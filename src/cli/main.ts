import { Command, Option } from 'commander';
import { windowsCommand } from '../capabilities/capacity/cli.ts';
import { jobsCommand } from '../capabilities/jobs/cli.ts';
import { schedulesCommand } from '../capabilities/power/cli.ts';
import { rulesCommand } from '../capabilities/rules/cli.ts';
import { notifyCommand } from '../notify/cli.ts';
import { serveCommand } from './serve.ts';

const program = new Command();
program
  .name('chronops')
  .description(
    'Schedule capacity on AWS: windows of ECS tasks and Aurora readers, planned and carried out on time.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

program.addCommand(serveCommand());
program.addCommand(windowsCommand());
program.addCommand(notifyCommand());
program.addCommand(rulesCommand());
program.addCommand(jobsCommand());
program.addCommand(schedulesCommand());
program.addOption(new Option('--no-color', 'plain output').hideHelp());

await program.parseAsync(process.argv);

// The dev sidecar's command line: `run -f dapr.yaml`, `run --app-id … -- command`, or a sidecar alone.
using System.Runtime.InteropServices;
using DevCli;

Command command;
try
{
    command = CommandLine.Parse(args);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine();
    Console.Error.WriteLine(CommandLine.Usage);
    return 2;
}

if (command is HelpCommand)
{
    Console.WriteLine(CommandLine.Usage);
    return 0;
}

IReadOnlyList<AppSpec> apps;
RunnerSettings settings;
switch (command)
{
    case RunFileCommand run:
        try
        {
            var runFile = RunFile.Load(run.Path);
            (apps, settings) = (runFile.Apps, run.Settings with { Template = runFile });
        }
        catch (RunFileException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        break;
    case RunAppCommand run:
        (apps, settings) = ([run.App], run.Settings);
        break;
    default:
        throw new InvalidOperationException($"unhandled command {command}");
}

// Ctrl-C and SIGTERM stop the run gracefully instead of ending this process at once.
using var stop = new CancellationTokenSource();
void RequestStop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, RequestStop);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, RequestStop);

return await new MultiAppRunner(apps, settings, Console.Out, Console.Error).RunAsync(stop.Token);

using System.Diagnostics;
using System.Text;

namespace Docs.Tests;

/// <summary>dapr.yaml's ports are fixed (3500…, 5100…, 50001…): its runs cannot overlap, so the walk-throughs share
/// one collection that runs alone. No other test of the repository binds these ports (they all take free ports), which
/// this assumes; a port already in use fails the run at once with its number rather than testing someone else's suite.
/// (The gRPC ports 500x1 lie in Linux's ephemeral range: a free port handed to a test running at the same time could
/// take one; that run would then fail, not pass wrongly.)</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FixedPortsCollection
{
    public const string Name = "dapr.yaml's fixed ports";
}

/// <summary>
/// The README's and docs/patterns.md's walk-throughs, run as a user runs them, so the docs cannot drift from the code.
/// For each style: the documented reset of components/local (the <c>&lt;!-- walkthrough: reset --&gt;</c> block:
/// delete the per-app <c>services/*/.dapr/state.db</c>, so replaying gives the doc's stock and no 409s), then the
/// suite started exactly as the README says (<see cref="StartedSuite"/>: the built DevCli with dapr.yaml, or a copy
/// with only the style line switched), then every block of that style, in doc order, in one bash per doc (README
/// first: its stock figures assume nothing else ordered a keyboard), each output compared with the doc's after
/// normalizing ids, timestamps, ms durations and Date/Server headers (<see cref="Output"/>). The first block that
/// differs fails the test with the block, both outputs and a diff; later blocks build on it, so they are not run.
/// The doc convention is <see cref="Walkthrough"/>'s. Commands that wait poll with a deadline in the shell, as a user's
/// would; the test adds only a per-block deadline above theirs. It builds nothing: dotnet build/test Dapr.sln builds
/// the runner and the apps (this project references them), and it says so if they are missing.
/// </summary>
[Collection(FixedPortsCollection.Name)]
public sealed class WalkthroughTests
{
    private static readonly string[] Docs = ["README.md", "docs/patterns.md"];
    private static readonly TimeSpan BlockDeadline = TimeSpan.FromSeconds(60);

    [Fact]
    public Task The_walkthroughs_hold_in_the_choreography_style() => RunAsync(Style.Choreography);

    [Fact]
    public Task The_walkthroughs_hold_in_the_orchestration_style() => RunAsync(Style.Orchestration);

    [Fact]
    public void Every_shell_block_of_the_docs_is_run_or_marked_skip()
    {
        // Read throws on an unmarked ```bash block, an unknown marker or a ```sh/```console block.
        var blocks = Docs.SelectMany(doc => Walkthrough.Read(Repo.Path(doc), doc)).ToList();
        blocks.Should().Contain(block => block.Reset, "the suite starts from the documented clean state");
        foreach (var style in Enum.GetValues<Style>())
            blocks.Where(block => !block.Reset && block.Styles.Contains(style)).Should().NotBeEmpty($"the {style} walk-through runs");
    }

    private static async Task RunAsync(Style style)
    {
        var clock = Stopwatch.StartNew();
        var walkthroughs = Docs.Select(doc => Walkthrough.Read(Repo.Path(doc), doc)).ToList();
        StartedSuite.EnsurePortsFree();
        await using (var shell = new BashSession(Repo.Root))
            foreach (var reset in walkthroughs.SelectMany(blocks => blocks).Where(block => block.Reset))
                await RunBlockAsync(shell, reset, runner: null);

        await using var suite = await StartedSuite.StartAsync(style);
        foreach (var blocks in walkthroughs)
        {
            await using var shell = new BashSession(Repo.Root);
            foreach (var block in blocks.Where(block => !block.Reset && block.Styles.Contains(style)))
                await RunBlockAsync(shell, block, suite);
        }
        // The README says the refused order is logged at information level, and shows the line.
        suite.RunnerOutput.Should().MatchRegex(
            @"info: OrderFlow\.Problems\[0\] => SpanId:[0-9a-f]{16}, TraceId:[0-9a-f]{32} => ConnectionId:\S+ POST /orders answered 400 The order is not valid\. customerId: is required",
            "every client error a service answers is logged at information level, with its trace id");
        Console.WriteLine($"walk-throughs in the {style} style: {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private static async Task RunBlockAsync(BashSession shell, WalkthroughBlock block, StartedSuite? runner)
    {
        var run = await shell.RunAsync(block.Commands, BlockDeadline);
        var expected = Output.Normalize(block.ExpectedOutput);
        var actual = Output.Normalize(run.Output);
        if (run.ExitStatus == 0 && expected.SequenceEqual(actual)) return;
        var message = new StringBuilder()
            .AppendLine($"The walk-through block at {block} does not do what the doc says (exit status {run.ExitStatus}).")
            .AppendLine("--- commands").AppendLine(block.Commands)
            .AppendLine("--- expected (as the doc shows it)").AppendLine(block.ExpectedOutput)
            .AppendLine("--- actual").AppendLine(run.Output)
            .AppendLine("--- diff after normalizing (- doc, + actual)").Append(Output.Diff(expected, actual));
        if (runner is not null) message.AppendLine("--- the runner's last lines").AppendLine(runner.RunnerOutputTail);
        throw new Xunit.Sdk.XunitException(message.ToString());
    }
}

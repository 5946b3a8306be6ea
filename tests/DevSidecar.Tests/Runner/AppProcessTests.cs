using DevCli;

namespace DevSidecar.Tests.Runner;

/// <summary>App processes on their own, with `sh` as the app: no sidecar involved.</summary>
public sealed class AppProcessTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private AppSpec Shell(string script) =>
        new() { AppId = "shell", AppDirPath = _temp.Path, Command = ["sh", "-c", script] };

    [Fact]
    public async Task Output_lines_are_prefixed_on_the_console_written_plain_to_the_log_file_and_the_last_ones_kept()
    {
        var console = new StringWriter();
        var logFile = _temp.Combine(".dapr", "logs", "shell_app.log");

        await using var app = AppProcess.Start(
            Shell("for i in $(seq 1 30); do echo line $i; done; echo oops >&2; echo \"$GREETING from $PWD\"; exit 7"),
            new Dictionary<string, string> { ["GREETING"] = "hello" }, TextWriter.Synchronized(console), logFile);

        (await app.Exited.WaitAsync(Deadline)).Should().Be(7);
        app.LastLines().Should().HaveCount(AppProcess.RememberedLines)
            .And.Contain($"hello from {_temp.Path}")
            .And.NotContain("line 1");
        console.ToString().Should().Contain("== APP - shell == line 30").And.Contain("== APP - shell == oops");
        File.ReadAllLines(logFile).Should().Contain("line 1").And.Contain("line 30");
    }

    [Fact]
    public async Task Stop_sends_SIGTERM_to_the_app_and_what_it_spawned()
    {
        var console = TextWriter.Synchronized(new StringWriter());
        // The app starts a child of its own and waits; SIGTERM to the process group must end both.
        await using var app = AppProcess.Start(Shell("sleep 600 & echo child $!; wait"), new Dictionary<string, string>(), console, null);
        var childPid = await WaitForChildPidAsync(app);

        await app.StopAsync(TimeSpan.FromSeconds(5)).WaitAsync(Deadline);

        (await app.Exited).Should().NotBe(0);
        await WaitUntilGoneAsync(childPid); // the app's child is in its process group
    }

    [Fact]
    public async Task An_app_that_ignores_SIGTERM_is_killed_after_the_grace_period()
    {
        await using var app = AppProcess.Start(
            Shell("trap '' TERM; echo ready; while true; do sleep 0.1; done"), new Dictionary<string, string>(), null, null);
        await Wait.UntilAsync(() => app.LastLines().Contains("ready"), "the app to print ready", Deadline);

        await app.StopAsync(TimeSpan.FromMilliseconds(300)).WaitAsync(Deadline);

        app.Exited.IsCompleted.Should().BeTrue();
    }

    [Fact]
    public void A_command_that_cannot_run_is_reported_with_the_app_id()
    {
        var start = () => AppProcess.Start(
            new AppSpec { AppId = "ghost", AppDirPath = _temp.Combine("no-such-folder"), Command = ["true"] },
            new Dictionary<string, string>(), null, null);

        start.Should().Throw<AppStartException>().Which.Message.Should().StartWith("app 'ghost': cannot start 'true'");
    }

    private static async Task<int> WaitForChildPidAsync(AppProcess app)
    {
        string? line = null;
        await Wait.UntilAsync(() => (line = app.LastLines().FirstOrDefault(l => l.StartsWith("child "))) is not null, "the app to print its child's pid", Deadline);
        return int.Parse(line!["child ".Length..]);
    }

    internal static Task WaitUntilGoneAsync(int pid) =>
        Wait.UntilAsync(() => !Directory.Exists($"/proc/{pid}") || IsZombie(pid), $"process {pid} to be gone", Deadline);

    /// <summary>A killed child of a process that has itself exited may linger as a zombie until init reaps it.</summary>
    private static bool IsZombie(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].StartsWith('Z'); }
        catch (IOException) { return true; }
    }
}

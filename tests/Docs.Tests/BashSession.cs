namespace Docs.Tests;

/// <summary>What a block printed (stdout and stderr, as a terminal shows them) and its exit status.</summary>
public sealed record BlockRun(string Output, int ExitStatus);

/// <summary>
/// One bash, as the user's terminal: blocks run in it one after the other, so what a block defines (D=…, a function)
/// holds for the next. Each block is written to a file and sourced with stdin from /dev/null (a command reading stdin
/// cannot eat the next block), then a marker line with its exit status ends its output.
/// </summary>
public sealed class BashSession : IAsyncDisposable
{
    private readonly List<string> _lines = [];
    private readonly ChildProcess _bash;
    private readonly TempFolder _scripts = new("walkthrough-");
    private int _blocks;

    public BashSession(string workingDirectory)
    {
        _bash = ChildProcess.Start("bash", ["--noprofile", "--norc"], workingDirectory: workingDirectory, writableInput: true,
            onLine: line => { lock (_lines) _lines.Add(line); });
        _bash.WriteLine("exec 2>&1"); // one stream, in the order it was written
    }

    /// <param name="deadline">Longer than any wait the doc's commands do with their own deadline.</param>
    public async Task<BlockRun> RunAsync(string commands, TimeSpan deadline)
    {
        var n = ++_blocks;
        var script = _scripts.WriteFile($"block-{n}.sh", commands + "\n");
        var marker = $"__walkthrough_block_{n}_status__ ";
        int start;
        lock (_lines) start = _lines.Count;
        _bash.WriteLine($"source '{script}' </dev/null; __walkthrough_status=$?; echo; echo \"{marker}$__walkthrough_status\"");
        var end = -1;
        await _bash.WaitWhileRunningAsync(() =>
        {
            lock (_lines) end = _lines.FindIndex(start, line => line.StartsWith(marker, StringComparison.Ordinal));
            return end >= 0;
        }, "the block to finish", deadline);
        lock (_lines)
        {
            // The echo before the marker ends a last line without a newline (curl -i's body); it adds one empty line.
            var output = _lines.GetRange(start, end - start);
            if (output.Count > 0 && output[^1].Length == 0) output.RemoveAt(output.Count - 1);
            return new BlockRun(string.Join('\n', output), int.Parse(_lines[end][marker.Length..]));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _bash.DisposeAsync();
        _scripts.Dispose();
    }
}

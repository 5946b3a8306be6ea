using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Brokers;

/// <summary>
/// A throw-away redis-server on a free loopback port, without persistence (<c>--save "" --appendonly no</c>).
/// It can be stopped and started again on the same port to play a broker outage. Disposing kills it.
/// </summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private Process? _process;

    public int Port { get; } = TestApp.FreePort();
    public string HostPort => $"127.0.0.1:{Port}";

    /// <summary>A port reserved for redis without starting it (a broker that is down at start-up).</summary>
    public static RedisServerProcess NotStarted() => new();

    public static async Task<RedisServerProcess> StartAsync()
    {
        var redis = new RedisServerProcess();
        await redis.StartAgainAsync();
        return redis;
    }

    public async Task StartAgainAsync()
    {
        var start = new ProcessStartInfo(BrokerBinary.Require("redis-server"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
            start.ArgumentList.Add(arg);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Wait.UntilAsync(PingsAsync, $"redis-server on port {Port} answers PING");
    }

    /// <summary>Kills the server (an outage: no shutdown, connections drop).</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process) return;
        _process = null;
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
    }

    private async Task<bool> PingsAsync()
    {
        if (_process is { HasExited: true }) throw new InvalidOperationException($"redis-server on port {Port} exited with {_process.ExitCode}");
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(1));
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}

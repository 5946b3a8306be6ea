using System.Net.Sockets;
using System.Text;

namespace TestHosting.Brokers;

/// <summary>
/// redis-server (Debian package redis-server) without persistence (<c>--save "" --appendonly no</c>); stopping it
/// kills it (an outage: no shutdown, connections drop), and a restart starts empty.
/// </summary>
public sealed class RedisServerProcess() : BrokerServer("redis-server", "pubsub.redis", defaultAddress: "localhost:6379")
{
    public string HostPort => $"127.0.0.1:{Port}";
    public override string Address => HostPort;

    protected override IEnumerable<(string Key, string Value)> PubSubMetadata() => [("redisHost", HostPort)];

    protected override (string Program, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string>? Environment) Command(string binaryPath) =>
        (binaryPath, ["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", DataDir], null);

    /// <summary>Answers PING with PONG.</summary>
    protected override async Task<bool> AcceptsClientsAsync()
    {
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

    protected override async Task StopProcessAsync(ChildProcess process)
    {
        process.Kill();
        await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
    }
}

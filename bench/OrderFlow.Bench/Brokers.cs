using DevSidecar.Resources;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using DevSidecar.Hosting;

namespace OrderFlow.Bench;

/// <summary>
/// A broker folder under components/ (a folder with a pub/sub component), and the broker process it needs, started by
/// the bench on a free port with private data, so nothing else on the machine is touched.
/// </summary>
public sealed partial class BrokerFolder
{
    public required string Name { get; init; }
    public required string Folder { get; init; }
    public required string PubSubType { get; init; }
    public string? StateType { get; init; }

    /// <summary>The broker folders of the repository: every components/ folder with a pubsub.* component, local first.</summary>
    public static List<BrokerFolder> Discover()
    {
        var found = new List<BrokerFolder>();
        foreach (var dir in Directory.GetDirectories(Hosting.RepoPath("components")).Order(StringComparer.Ordinal))
        {
            string? pubsub = null, state = null;
            foreach (var file in Directory.GetFiles(dir, "*.yaml"))
            {
                foreach (Match m in TypeLine().Matches(File.ReadAllText(file)))
                {
                    var type = m.Groups[1].Value;
                    if (type.StartsWith("pubsub.", StringComparison.Ordinal)) pubsub ??= type;
                    if (type.StartsWith("state.", StringComparison.Ordinal)) state ??= type;
                }
            }
            if (pubsub is not null) found.Add(new BrokerFolder { Name = Path.GetFileName(dir), Folder = dir, PubSubType = pubsub, StateType = state });
        }
        return [.. found.OrderBy(f => f.Name == "local" ? 0 : 1).ThenBy(f => f.Name, StringComparer.Ordinal)];
    }

    [GeneratedRegex(@"^\s*type:\s*([\w.\-]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    /// <summary>Why this folder cannot be measured here, or null.</summary>
    public string? Unsupported(bool withState)
    {
        if (!ComponentRegistry.KnownTypes.Contains(PubSubType)) return $"the dev sidecar does not support {PubSubType}";
        if (withState && StateType is not null && !ComponentRegistry.KnownTypes.Contains(StateType)) return $"the dev sidecar does not support {StateType}";
        return Server.BinaryFor(PubSubType) is { } binary && !File.Exists(binary) ? $"{binary} is not installed" : null;
    }

    /// <summary>Copies the folder's component files (pub/sub and, if asked, state) into <paramref name="target"/>, pointed at the port.</summary>
    public string Materialize(string target, int? port, bool withState)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(Folder, "*.yaml"))
        {
            var text = File.ReadAllText(file);
            var types = TypeLine().Matches(text).Select(m => m.Groups[1].Value).ToList();
            if (!types.Any(t => t.StartsWith("pubsub.", StringComparison.Ordinal) || (withState && t.StartsWith("state.", StringComparison.Ordinal)))) continue;
            if (port is { } p)
                text = DefaultPort().Replace(text, $"127.0.0.1:{p}");
            text = text.Replace("./.dapr/", target.TrimEnd('/') + "/", StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(target, Path.GetFileName(file)), text);
        }
        return target;
    }

    [GeneratedRegex(@"localhost:(6379|4222|5672)")]
    private static partial Regex DefaultPort();

    /// <summary>A broker process for the folder's type (null for the embedded broker).</summary>
    public sealed class Server : IAsyncDisposable
    {
        private readonly Process _process;
        public int Port { get; }
        private readonly string _dataDir;

        private Server(Process process, int port, string dataDir)
        {
            _process = process;
            Port = port;
            _dataDir = dataDir;
        }

        public static string? BinaryFor(string pubsubType) => pubsubType switch
        {
            "pubsub.redis" => Find("redis-server"),
            "pubsub.jetstream" => Find("nats-server"),
            "pubsub.rabbitmq" => Find("rabbitmq-server"),
            _ => null,
        };

        /// <summary>The broker binary in /usr/bin, /usr/sbin or /usr/local/bin (Debian's packages), else the /usr/bin path that is missing.</summary>
        private static string Find(string name) =>
            new[] { "/usr/bin", "/usr/sbin", "/usr/local/bin" }.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists) ?? Path.Combine("/usr/bin", name);

        public static async Task<Server?> StartAsync(string pubsubType, string workDir)
        {
            if (BinaryFor(pubsubType) is not { } binary) return null;
            var port = Hosting.FreePort();
            var data = Directory.CreateDirectory(Path.Combine(workDir, $"{pubsubType}-{port}")).FullName;
            var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = data };
            switch (pubsubType)
            {
                case "pubsub.redis":
                    foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", data }) psi.ArgumentList.Add(a);
                    break;
                case "pubsub.jetstream":
                    foreach (var a in new[] { "-js", "-a", "127.0.0.1", "-p", port.ToString(), "-sd", data }) psi.ArgumentList.Add(a);
                    break;
                case "pubsub.rabbitmq":
                    File.WriteAllText(Path.Combine(data, "enabled_plugins"), "[].");
                    psi.Environment["HOME"] = data;
                    psi.Environment["RABBITMQ_NODENAME"] = $"bench{port}@localhost";
                    psi.Environment["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
                    psi.Environment["RABBITMQ_NODE_PORT"] = port.ToString();
                    psi.Environment["RABBITMQ_DIST_PORT"] = Hosting.FreePort().ToString();
                    psi.Environment["RABBITMQ_MNESIA_BASE"] = Path.Combine(data, "mnesia");
                    psi.Environment["RABBITMQ_LOG_BASE"] = Path.Combine(data, "log");
                    psi.Environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(data, "enabled_plugins");
                    psi.Environment["RABBITMQ_CONFIG_FILE"] = Path.Combine(data, "rabbitmq");
                    if (File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server")) psi.FileName = "/usr/lib/rabbitmq/bin/rabbitmq-server";
                    break;
            }
            var process = Process.Start(psi)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new Server(process, port, data);
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                if (process.HasExited) throw new InvalidOperationException($"{binary} exited with {process.ExitCode}");
                try
                {
                    using var tcp = new TcpClient();
                    await tcp.ConnectAsync("127.0.0.1", port);
                    if (pubsubType == "pubsub.rabbitmq") await Task.Delay(1000); // the listener opens before the node has booted
                    return server;
                }
                catch (SocketException)
                {
                    await Task.Delay(200);
                }
            }
            await server.DisposeAsync();
            throw new TimeoutException($"{binary} did not listen on {port} within 60 s");
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
            try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace DevCli;

/// <summary>Whether a TCP port is free, and, on Linux, which process listens on it.</summary>
internal static class PortOwner
{
    /// <summary>Tries to listen on every address, as the Dapr CLI does (Go's net.Listen("tcp", ":port")): a listener
    /// on any address of the port, loopback included, makes that fail. Only "address in use" counts as held: a machine
    /// without IPv6 is tried on IPv4 alone, and any other failure is left to the sidecar or the app to report.</summary>
    public static bool IsFree(int port)
    {
        foreach (var (family, address) in new[] { (AddressFamily.InterNetworkV6, IPAddress.IPv6Any), (AddressFamily.InterNetwork, IPAddress.Any) })
        {
            try
            {
                using var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
                if (family == AddressFamily.InterNetworkV6) socket.DualMode = true;
                socket.Bind(new IPEndPoint(address, port));
                socket.Listen();
                return true;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                return false;
            }
            catch (SocketException)
            {
                // no IPv6 here: try IPv4
            }
        }
        return true;
    }

    /// <summary>
    /// "pid 1234, dotnet" for the process listening on the port, found cheaply: the socket's inode in /proc/net/tcp{,6},
    /// then the /proc/&lt;pid&gt;/fd link naming it. Null when that is not possible (not Linux, another user's process).
    /// </summary>
    public static string? Find(int port)
    {
        try
        {
            var inodes = ListeningInodes(port);
            if (inodes.Count == 0) return null;
            foreach (var process in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(process), out var pid)) continue;
                if (OwnsAny(process, inodes))
                    return File.ReadAllText(Path.Combine(process, "comm")).Trim() is { Length: > 0 } name ? $"pid {pid}, {name}" : $"pid {pid}";
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // no /proc here: the report goes without the owner
        }
        return null;
    }

    private static HashSet<string> ListeningInodes(int port)
    {
        const string Listen = "0A";
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" }.Where(File.Exists))
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 10 || fields[3] != Listen) continue;
                var local = fields[1];
                if (int.Parse(local[(local.LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
                    inodes.Add(fields[9]);
            }
        }
        return inodes;
    }

    private static bool OwnsAny(string process, HashSet<string> inodes)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(Path.Combine(process, "fd"))
                .Select(fd => new FileInfo(fd).LinkTarget)
                .Any(target => target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // another user's process, or one that just exited
        }
    }
}

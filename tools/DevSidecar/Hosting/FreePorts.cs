using System.Net;
using System.Net.Sockets;

namespace DevSidecar.Hosting;

/// <summary>Picks free loopback ports, never the same one twice in this process, so ports picked
/// for several apps before any of them binds cannot collide.</summary>
public static class FreePorts
{
    private static readonly HashSet<int> Handed = [];

    public static int Pick()
    {
        lock (Handed)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                if (Handed.Add(port)) return port;
            }
        }
    }

    /// <summary>
    /// A free port below Linux's ephemeral range (32768 and up), for a server that is stopped and started again on its
    /// port (an app restarted next to its sidecar, a broker brought back after an outage): while it is down, no
    /// outgoing connection, and no server binding port 0, can take the port, since those get ephemeral ports.
    /// </summary>
    public static int PickOutsideEphemeralRange()
    {
        lock (Handed)
        {
            while (true)
            {
                var port = Random.Shared.Next(20_000, 32_000);
                if (!Handed.Add(port)) continue;
                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // in use by someone else: try another
                }
            }
        }
    }
}

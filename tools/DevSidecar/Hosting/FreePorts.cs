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
}

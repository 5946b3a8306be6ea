using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TestHosting;

/// <summary>Bare minimal-API apps on 127.0.0.1, for apps a test or the bench writes itself (subscribers, echo targets).</summary>
public static class LoopbackApp
{
    /// <summary>A slim app on 127.0.0.1:<paramref name="port"/> (0: a port the OS picks), with no logging and no server header.</summary>
    public static WebApplication Create(int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port);
            k.AddServerHeader = false;
        });
        return builder.Build();
    }

    /// <summary>The port a started app listens on.</summary>
    public static int BoundPort(this WebApplication app) =>
        new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
}

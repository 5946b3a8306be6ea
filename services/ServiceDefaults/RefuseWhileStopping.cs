using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace OrderFlow.ServiceDefaults;

/// <summary>
/// Once shutdown has begun, new requests get 503 problem details (with Connection: close), so callers retry another
/// instance or after the restart. Two kinds still get through: health probes, and pub/sub deliveries (they carry the
/// pubsubName header): in-flight work may be waiting for an event (an order's progress stream, a reply), and a
/// delivery refused here would only be retried against this same dying instance.
/// </summary>
public static class RefuseWhileStopping
{
    public static WebApplication UseRefuseWhileStopping(this WebApplication app)
    {
        var work = app.Services.GetRequiredService<InFlightWork>();
        app.Use(async (context, next) =>
        {
            if (!work.IsStopping || context.Request.Path.StartsWithSegments("/healthz") || context.Request.Headers.ContainsKey("pubsubName"))
            {
                await next(context);
                return;
            }
            context.Response.Headers.Connection = "close";
            await Results.Problem(title: "Shutting down", detail: "This instance is shutting down and takes no new work; retry shortly.",
                statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context);
        });
        return app;
    }
}

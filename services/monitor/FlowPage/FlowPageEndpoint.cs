namespace OrderFlow.Monitor;

/// <summary>
/// The flow page: one static HTML file with its script, embedded in the monitor's assembly (so it is served wherever
/// the app runs, whatever its content root), reading the monitor's JSON API and its `/flows/events` stream.
/// </summary>
public static class FlowPageEndpoint
{
    private const string ResourceName = "OrderFlow.Monitor.FlowPage.flows.html";

    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var stream = typeof(FlowPageEndpoint).Assembly.GetManifestResourceStream(ResourceName)
                           ?? throw new InvalidOperationException($"the monitor assembly lacks its embedded {ResourceName}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static IEndpointRouteBuilder MapFlowPage(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => TypedResults.Bytes(Page.Value, "text/html; charset=utf-8"));
        return app;
    }
}

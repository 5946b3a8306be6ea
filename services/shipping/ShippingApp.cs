using OrderFlow.ServiceDefaults;

namespace OrderFlow.Shipping;

public static class ShippingApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<ShippingOptions>(builder.Configuration.GetSection("Shipping"));
        builder.Services.AddSingleton<ShipmentDesk>();
        builder.Services.AddSingleton<Dispatcher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Dispatcher>());
        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapShippingApi();
        return app;
    }
}

public sealed class ShippingOptions
{
    /// <summary>How long after accepting a shipment it is dispatched: the slow step of the flow.</summary>
    public TimeSpan DispatchDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Country codes no carrier delivers to; a shipment there fails (case-insensitive).</summary>
    public List<string> UndeliverableCountries { get; set; } = ["AQ"];
}

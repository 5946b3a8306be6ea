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

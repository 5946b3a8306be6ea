using OrderFlow.ServiceDefaults;

namespace OrderFlow.Orders;

public static class OrdersApp
{
    /// <summary>Builds the app; tests host it in-process with their own ports.</summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.AddSingleton<OrderBook>();
        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapOrdersApi();
        app.MapOrderEvents();
        app.MapOrderProgress();
        return app;
    }
}

using OrderFlow.ServiceDefaults;

namespace OrderFlow.Inventory;

public static class InventoryApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.Services.Configure<InventoryOptions>(builder.Configuration.GetSection("Inventory"));
        builder.Services.AddSingleton<Warehouse>();
        builder.Services.AddHostedService<StockSeeder>();
        var app = builder.Build();
        app.MapServiceDefaults();
        app.MapInventoryApi();
        return app;
    }
}

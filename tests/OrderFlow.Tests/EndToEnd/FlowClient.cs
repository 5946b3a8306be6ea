using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Contracts;
using OrderFlow.Inventory;
using OrderFlow.Notifications;
using OrderFlow.Orders;
using OrderFlow.Payments;
using OrderFlow.Shipping;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>The calls a reader would make with curl, through the sidecars of one cluster.</summary>
public sealed class FlowClient(OrderFlowCluster cluster)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HttpClient _orders = cluster.Invoke(AppIds.Orders);
    private readonly HttpClient _inventory = cluster.Invoke(AppIds.Inventory);
    private readonly HttpClient _payments = cluster.Invoke(AppIds.Payments);
    private readonly HttpClient _shipping = cluster.Invoke(AppIds.Shipping);
    private readonly HttpClient _notifications = cluster.Invoke(AppIds.Notifications);

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}";


    public async Task<string> StockAsync(int available)
    {
        var sku = Unique("sku");
        var response = await _inventory.PutAsJsonAsync($"stock/{sku}", new { available });
        response.EnsureSuccessStatusCode();
        return sku;
    }

    public async Task<Reservation> ReservationAsync(string orderId) =>
        (await _inventory.GetFromJsonAsync<Reservation>($"reservations/{orderId}", Json))!;

    public async Task<StockLevel> StockOfAsync(string sku) => (await _inventory.GetFromJsonAsync<StockLevel>($"stock/{sku}", Json))!;

    public async Task<string> PlaceAsync(string customer, string sku, int quantity, decimal amount, string country)
    {
        var response = await _orders.PostAsJsonAsync("orders", new
        {
            customerId = customer,
            items = new[] { new { sku, quantity } },
            amount,
            shipTo = new { street = "1 Canal St", city = "Utrecht", country },
        });
        response.StatusCode.Should().Be(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var accepted = await response.Content.ReadFromJsonAsync<OrdersApi.OrderAccepted>(Json);
        response.Headers.Location!.ToString().Should().Be($"/orders/{accepted!.OrderId}");
        return accepted.OrderId;
    }

    public Task<OrdersApi.OrderView> TerminalAsync(string orderId, TimeSpan? timeout = null) =>
        Wait.ForAsync(
            async () => (await _orders.GetFromJsonAsync<OrdersApi.OrderView>($"orders/{orderId}", Json))!,
            o => o.Status is OrderStatus.Completed or OrderStatus.Cancelled,
            $"order {orderId} to complete or be cancelled", timeout ?? Wait.EndToEndTimeout);

    public async Task<List<LedgerEntry>> LedgerAsync(string customer) =>
        (await _payments.GetFromJsonAsync<List<LedgerEntry>>($"ledger?customerId={customer}", Json))!;

    public async Task<Shipment?> ShipmentAsync(string orderId)
    {
        var response = await _shipping.GetAsync($"shipments/{orderId}");
        return response.StatusCode == HttpStatusCode.NotFound ? null : await response.Content.ReadFromJsonAsync<Shipment>(Json);
    }

    /// <summary>The notification is sent after the terminal event, so it may trail the order's status.</summary>
    public Task<Notification> NotificationAsync(string orderId) =>
        Wait.ForAsync(
            async () =>
            {
                var response = await _notifications.GetAsync($"notifications/{orderId}");
                return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<Notification>(Json) : null;
            },
            n => n is not null, $"the notification of order {orderId}", Wait.EndToEndTimeout).ContinueWith(t => t.Result!);

    public async Task RepublishAsync<T>(string topic, T data)
    {
        var response = await cluster.SidecarOf(AppIds.Orders).PostAsJsonAsync($"v1.0/publish/{Components.PubSub}/{topic}", data, Json);
        response.StatusCode.Should().Be(HttpStatusCode.NoContent);
    }
}

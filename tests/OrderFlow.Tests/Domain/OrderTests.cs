using OrderFlow.Contracts;
using OrderFlow.Orders;

namespace OrderFlow.Tests.Domain;

public class OrderTests
{
    private static readonly OrderDetails Details = new("o-1", "c-1", [new OrderItem("sku", 1)], 10m, new Address("1 Main St", "Utrecht", "NL"));
    private static readonly DateTimeOffset At = DateTimeOffset.UnixEpoch;

    [Fact]
    public void A_new_order_is_pending_with_the_placement_in_its_history()
    {
        var order = Order.Place(Details, At);
        order.Status.Should().Be(OrderStatus.Pending);
        order.History.Select(h => h.Step).Should().Equal(Topics.OrderPlaced);
    }

    [Fact]
    public void The_status_follows_the_steps_whatever_order_they_arrive_in()
    {
        var inOrder = Order.Place(Details, At).With(Topics.StockReserved, At)!.With(Topics.PaymentCharged, At)!;
        var reversed = Order.Place(Details, At).With(Topics.PaymentCharged, At)!.With(Topics.StockReserved, At)!;
        inOrder.Status.Should().Be(OrderStatus.PaymentCharged);
        reversed.Status.Should().Be(OrderStatus.PaymentCharged);
    }

    [Fact]
    public void A_step_seen_twice_changes_nothing_the_second_time()
    {
        var reserved = Order.Place(Details, At).With(Topics.StockReserved, At)!;
        reserved.With(Topics.StockReserved, At.AddSeconds(1)).Should().BeNull();
    }

    [Fact]
    public void A_failure_means_compensating_until_the_order_is_cancelled_with_its_reason()
    {
        var failed = Order.Place(Details, At).With(Topics.StockReserved, At)!.With(Topics.PaymentDeclined, At, "too much")!;
        failed.Status.Should().Be(OrderStatus.Compensating);
        var cancelled = failed.With(Topics.OrderCancelled, At, "too much")!;
        cancelled.Status.Should().Be(OrderStatus.Cancelled);
        cancelled.Reason.Should().Be("too much");
    }

    [Fact]
    public void The_history_is_in_flow_order_whatever_order_the_events_arrive_in()
    {
        var order = Order.Place(Details, At).With(Topics.StockReleased, At, "r")!.With(Topics.PaymentRefunded, At, "r")!.With(Topics.StockReserved, At)!;
        order.History.Select(h => h.Step).Should().Equal(Topics.OrderPlaced, Topics.StockReserved, Topics.PaymentRefunded, Topics.StockReleased);
    }

    [Fact]
    public void A_failed_shipment_is_compensated_only_once_both_refund_and_release_are_known()
    {
        var failed = Order.Place(Details, At).With(Topics.PaymentCharged, At)!.With(Topics.ShipmentFailed, At, "r")!;
        failed.With(Topics.StockReleased, At, "r")!.IsCompensated.Should().BeFalse();
        failed.With(Topics.StockReleased, At, "r")!.With(Topics.PaymentRefunded, At, "r")!.IsCompensated.Should().BeTrue();
    }

    [Fact]
    public void A_release_that_arrives_before_the_decline_that_caused_it_does_not_yet_compensate()
    {
        var released = Order.Place(Details, At).With(Topics.StockReserved, At)!.With(Topics.StockReleased, At, "r")!;
        released.IsCompensated.Should().BeFalse();
        released.With(Topics.PaymentDeclined, At, "r")!.IsCompensated.Should().BeTrue();
    }

    [Fact]
    public void A_terminal_order_takes_no_more_steps()
    {
        var completed = Order.Place(Details, At).With(Topics.OrderCompleted, At)!;
        completed.With(Topics.OrderCancelled, At, "late").Should().BeNull();
    }
}

public class PlaceOrderTests
{
    private static PlaceOrder Valid => new(null, "c-1", [new OrderItem("sku", 2)], 20m, new Address("1 Main St", "Utrecht", "NL"));

    [Fact]
    public void A_complete_order_is_valid_and_gets_an_id() 
    {
        Valid.Validate().Should().BeEmpty();
        Valid.ToDetails().OrderId.Should().NotBeNullOrEmpty();
    }

    [Theory]
    [InlineData("customerId")]
    [InlineData("items")]
    [InlineData("amount")]
    [InlineData("shipTo")]
    public void A_missing_field_is_named(string field)
    {
        var request = field switch
        {
            "customerId" => Valid with { CustomerId = " " },
            "items" => Valid with { Items = [] },
            "amount" => Valid with { Amount = 0 },
            _ => Valid with { ShipTo = null },
        };
        request.Validate().Should().ContainKey(field);
    }

    [Fact]
    public void Bad_items_and_ids_are_named_by_position()
    {
        var errors = (Valid with { OrderId = "has space", Items = [new OrderItem("", 0)] }).Validate();
        errors.Keys.Should().BeEquivalentTo("orderId", "items[0].sku", "items[0].quantity");
    }
}

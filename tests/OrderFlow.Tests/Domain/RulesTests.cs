using OrderFlow.Contracts;
using System.Text.Json;
using OrderFlow.Inventory;
using OrderFlow.Monitor;
using OrderFlow.Payments;
using OrderFlow.Shipping;

namespace OrderFlow.Tests.Domain;

public class StockRulesTests
{
    private static PendingChange Reserve(string order, string attempt, int quantity) => new(order, attempt, quantity, PendingKind.Reserve);
    private static PendingChange Release(string order, string attempt, int quantity) => new(order, attempt, quantity, PendingKind.Release);
    private static Reservation Decided(string order, ReservationStatus status, string decidedBy, string? releasedBy = null) =>
        new(order, [new OrderItem("a", 1)], status, null, DecidedBy: decidedBy, ReleasedBy: releasedBy);

    [Fact]
    public void Demand_adds_up_repeated_skus()
    {
        StockRules.Demand([new OrderItem("a", 2), new OrderItem("b", 1), new OrderItem("a", 1)])
            .Should().BeEquivalentTo(new Dictionary<string, int> { ["a"] = 3, ["b"] = 1 });
    }

    [Fact]
    public void Taking_moves_the_quantity_to_reserved_at_once_and_notes_it_pending()
    {
        var taken = StockRules.Take(new StockLevel("a", 5, 1), Reserve("o1", "x", 3));
        (taken.Available, taken.Reserved).Should().Be((2, 4));
        taken.Pending.Should().Equal(Reserve("o1", "x", 3));
        StockRules.Carries(taken, Reserve("o1", "x", 3)).Should().BeTrue();
        StockRules.Carries(taken, Reserve("o1", "y", 3)).Should().BeFalse("another attempt of the same order has not taken it");
    }

    [Fact]
    public void Reserving_takes_once_per_attempt_and_is_all_or_nothing_per_level()
    {
        var level = new StockLevel("a", 3, 0);
        var (taken, shortage) = StockRules.Reserve(level, "a", Reserve("o1", "x", 2));
        shortage.Should().BeNull();
        taken.Should().BeEquivalentTo(new StockLevel("a", 1, 2, [Reserve("o1", "x", 2)]));

        StockRules.Reserve(taken, "a", Reserve("o1", "x", 2)).Should().Be(((StockLevel?)null, (string?)null),
            "the attempt holds it already (its write's answer was lost): nothing to write, and not short");
        StockRules.Reserve(taken, "a", Reserve("o2", "y", 2)).Should().Be(((StockLevel?)null, "out of stock: a (wanted 2, available 1)"));
        StockRules.Reserve(null, "ghost", Reserve("o1", "x", 1)).Shortage.Should().Be("unknown sku: ghost");
    }

    [Fact]
    public void A_shortage_names_the_sku_and_what_is_left()
    {
        StockRules.Shortage(new StockLevel("a", 1, 0), "a", 2).Should().Be("out of stock: a (wanted 2, available 1)");
        StockRules.Shortage(null, "ghost", 1).Should().Be("unknown sku: ghost");
        StockRules.Shortage(new StockLevel("a", 2, 0), "a", 2).Should().BeNull();
    }

    [Fact]
    public void Stock_held_by_another_attempt_of_the_same_order_is_told_apart()
    {
        var level = new StockLevel("a", 0, 1, [Reserve("o1", "x", 1)]);
        StockRules.HeldByAnotherAttempt(level, "o1", "y").Should().BeTrue();
        StockRules.HeldByAnotherAttempt(level, "o1", "x").Should().BeFalse();
        StockRules.HeldByAnotherAttempt(level, "o2", "y").Should().BeFalse();
    }

    [Fact]
    public void Settling_keeps_the_deciding_attempts_stock_and_gives_back_every_other_attempts()
    {
        var level = new StockLevel("a", 4, 6, [Reserve("o1", "x", 2), Reserve("o1", "y", 2), Reserve("o2", "z", 2)]);

        var settled = StockRules.Settle(level, Decided("o1", ReservationStatus.Reserved, decidedBy: "x"));

        settled.Should().BeEquivalentTo(new StockLevel("a", 6, 4, [Reserve("o2", "z", 2)]), "another order's pending change is not this decision's");
    }

    [Fact]
    public void Settling_a_rejection_gives_back_all_the_order_took()
    {
        var level = new StockLevel("a", 0, 3, [Reserve("o1", "x", 3)]);
        StockRules.Settle(level, Decided("o1", ReservationStatus.Rejected, decidedBy: "x")).Should().Be(new StockLevel("a", 3, 0));
    }

    [Fact]
    public void Settling_is_idempotent_and_leaves_a_level_without_pending_changes_of_the_order_as_it_is()
    {
        var level = new StockLevel("a", 4, 6, [Reserve("o1", "x", 2)]);
        var decision = Decided("o1", ReservationStatus.Reserved, decidedBy: "x");
        var once = StockRules.Settle(level, decision);
        once.Should().Be(new StockLevel("a", 4, 6));
        StockRules.Settle(once, decision).Should().BeSameAs(once);
    }

    [Fact]
    public void A_noted_release_gives_nothing_back_until_it_is_recorded()
    {
        var noted = StockRules.NoteRelease(new StockLevel("a", 2, 3), Release("o1", "r", 3));
        (noted.Available, noted.Reserved).Should().Be((2, 3));

        StockRules.Settle(noted, Decided("o1", ReservationStatus.Reserved, decidedBy: "x")).Should().BeSameAs(noted, "the release is not recorded yet");
    }

    [Fact]
    public void Settling_a_recorded_release_applies_it_once_and_drops_the_other_attempts_releases()
    {
        var level = new StockLevel("a", 2, 3, [Release("o1", "r1", 3), Release("o1", "r2", 3)]);
        var released = Decided("o1", ReservationStatus.Released, decidedBy: "x", releasedBy: "r2");

        var settled = StockRules.Settle(level, released);

        settled.Should().Be(new StockLevel("a", 5, 0));
        StockRules.Settle(settled, released).Should().BeSameAs(settled);
    }

    [Fact]
    public void Settling_a_release_also_settles_the_reservation_it_gives_back()
    {
        // Two attempts each took 3 of 6; the release was recorded before either settled.
        var level = new StockLevel("a", 0, 6, [Reserve("o1", "x", 3), Reserve("o1", "y", 3), Release("o1", "r", 3)]);
        StockRules.Settle(level, Decided("o1", ReservationStatus.Released, decidedBy: "x", releasedBy: "r"))
            .Should().Be(new StockLevel("a", 6, 0));
    }
}

public class PaymentRulesTests
{
    [Theory]
    [InlineData(1000, 1000, false)]
    [InlineData(1000.01, 1000, true)]
    public void An_amount_over_the_limit_is_declined(decimal amount, decimal limit, bool declined)
    {
        (PaymentRules.DeclineReason(amount, limit) is not null).Should().Be(declined);
    }

    [Fact]
    public void Customers_without_their_own_limit_get_the_default()
    {
        var options = new PaymentsOptions { DefaultLimit = 50, Limits = { ["vip"] = 500 } };
        options.LimitOf("vip").Should().Be(500);
        options.LimitOf("anyone").Should().Be(50);
    }
}

public class ShippingRulesTests
{
    [Theory]
    [InlineData("AQ", true)]
    [InlineData(" aq ", true)]
    [InlineData("NL", false)]
    public void Undeliverable_countries_are_matched_ignoring_case_and_spaces(string country, bool undeliverable)
    {
        (ShippingRules.Undeliverable(new Address("x", "y", country), ["AQ"]) is not null).Should().Be(undeliverable);
    }
}

public class FlowTests
{
    private static readonly JsonElement Data = JsonDocument.Parse("{}").RootElement;
    private static FlowStep Step(string topic) => new(topic, DateTimeOffset.UnixEpoch, null, null);

    [Fact]
    public void A_flow_first_seen_at_its_end_is_ended_and_stays_so_when_earlier_events_arrive()
    {
        var flow = Flow.Start("o1", Step(Topics.OrderCompleted), Data);
        flow.Status.Should().Be(FlowStatus.Completed);
        flow = flow.With(Step(Topics.OrderPlaced), Data)!;
        flow.Status.Should().Be(FlowStatus.Completed, "order-placed arriving late does not reopen a completed flow");
        flow.LastStep.Step.Should().Be(Topics.OrderCompleted);
        flow.IsOpen.Should().BeFalse();
    }

    [Fact]
    public void A_stalled_flow_that_moves_again_is_in_progress()
    {
        var flow = Flow.Start("o1", Step(Topics.OrderPlaced), Data) with { Status = FlowStatus.Stalled };
        flow.With(Step(Topics.StockReserved), Data)!.Status.Should().Be(FlowStatus.InProgress);
        Flow.Start("o2", Step(Topics.OrderCancelled), Data).Status.Should().Be(FlowStatus.Cancelled);
    }
}

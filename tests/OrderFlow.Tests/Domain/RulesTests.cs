using OrderFlow.Contracts;
using OrderFlow.Inventory;
using OrderFlow.Payments;
using OrderFlow.Shipping;

namespace OrderFlow.Tests.Domain;

public class StockRulesTests
{
    private static Dictionary<string, StockLevel?> Levels(params StockLevel[] levels) => levels.ToDictionary(l => l.Sku, l => (StockLevel?)l);

    [Fact]
    public void Reserving_moves_quantities_from_available_to_reserved_adding_up_repeated_skus()
    {
        var (levels, rejection) = StockRules.Reserve(Levels(new StockLevel("a", 5, 1)), [new OrderItem("a", 2), new OrderItem("a", 1)]);
        rejection.Should().BeNull();
        levels.Should().Equal(new StockLevel("a", 2, 4));
    }

    [Fact]
    public void Reserving_is_all_or_nothing()
    {
        var (levels, rejection) = StockRules.Reserve(Levels(new StockLevel("a", 5, 0), new StockLevel("b", 1, 0)), [new OrderItem("a", 1), new OrderItem("b", 2)]);
        levels.Should().BeNull();
        rejection.Should().Be("out of stock: b (wanted 2, available 1)");
    }

    [Fact]
    public void An_unknown_sku_is_rejected()
    {
        StockRules.Reserve(Levels(), [new OrderItem("ghost", 1)]).Rejection.Should().Be("unknown sku: ghost");
    }

    [Fact]
    public void Releasing_gives_back_what_was_reserved()
    {
        StockRules.Release(Levels(new StockLevel("a", 2, 3)), [new OrderItem("a", 3)]).Should().Equal(new StockLevel("a", 5, 0));
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

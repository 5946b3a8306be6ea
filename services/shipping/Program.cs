using OrderFlow.Shipping;

ShippingApp.Build(args).Run();

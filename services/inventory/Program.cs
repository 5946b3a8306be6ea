using OrderFlow.Inventory;

InventoryApp.Build(args).Run();

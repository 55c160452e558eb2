package handlers

// Definition is one row of the handler table.
type Definition struct {
	// Name is the handler's stable name (see names.go); it also names its queue.
	Name string
	// New builds the handler from what a handler may use (see Deps).
	New Constructor
	// Chain is the handler's middleware, outermost first: Standard, or Standard with
	// stages removed (Without) or added (With).
	Chain Chain
}

// Table declares every handler and its chain. Adding a handler takes one new file in this
// package and one row here.
func Table() []Definition {
	return []Definition{
		{Name: InventoryReserve, New: UseCases(NewInventoryReserve), Chain: Standard},
		{Name: PaymentCapture, New: UseCases(NewPaymentCapture), Chain: Standard},
		{Name: OrderConfirm, New: UseCases(NewOrderConfirm), Chain: Standard},
		{Name: InventoryRelease, New: UseCases(NewInventoryRelease), Chain: Standard},
		{Name: OrderCancel, New: UseCases(NewOrderCancel), Chain: Standard},
		{Name: NotificationSend, New: UseCases(NewNotificationSend), Chain: Standard},
		{Name: FraudScreen, New: NewFraudScreen, Chain: Standard},
	}
}

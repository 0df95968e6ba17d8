/** The webhook delivery flow's input (it has no signals, queries or updates). */
export interface WebhookDeliveryInput {
  deliveryId: string;
  /** The subscription's department, so the flow's own audit entries land there. */
  department: string;
}

export interface WebhookDeliveryResult {
  deliveryId: string;
  status: 'delivered' | 'failed' | 'cancelled';
}

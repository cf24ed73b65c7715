"""One dataloader per file: each batches one kind of lookup for the length of a GraphQL request."""

"""A run on screen: worker thread, run panel, live plots, end summary, resume check, earlier runs."""

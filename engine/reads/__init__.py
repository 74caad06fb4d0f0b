"""Read models: what each page and API list shows, scoped to the actor, with no HTTP and no templates."""

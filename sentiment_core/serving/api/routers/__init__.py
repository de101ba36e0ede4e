"""One `APIRouter` per area; `create_app` includes them, all but health behind the API key when one is set."""

"""v3"""

from ninja import Router

router = Router()

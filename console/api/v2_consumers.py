"""v2_consumers"""

from ninja import Router

router = Router()

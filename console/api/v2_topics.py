"""v2_topics"""

from ninja import Router

router = Router()

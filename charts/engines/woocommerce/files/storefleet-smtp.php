<?php
/*
 * Plugin Name: storefleet SMTP
 * Description: Sends the store's mail through the platform's mail relay, with the store's
 *   own login (SMTP_* environment, from the store-smtp Secret).
 */
add_action('phpmailer_init', function ($mailer) {
    $host = getenv('SMTP_HOST');
    if (!$host) {
        return;
    }
    $port = (int) getenv('SMTP_PORT');
    $mailer->isSMTP();
    $mailer->Host = $host;
    $mailer->Port = $port ?: 587;
    $mailer->SMTPSecure = $port === 465 ? 'ssl' : '';
    $mailer->SMTPAutoTLS = true;
    $user = getenv('SMTP_USERNAME');
    if ($user) {
        $mailer->SMTPAuth = true;
        $mailer->Username = $user;
        $mailer->Password = getenv('SMTP_PASSWORD');
    }
    $from = getenv('SMTP_FROM');
    if ($from) {
        $mailer->setFrom($from, get_bloginfo('name'), false);
    }
});
